import PipeClient
