import CPCP
