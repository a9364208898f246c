#include "pipe_spawn.h"
