#ifndef PIPE_SPAWN_H
#define PIPE_SPAWN_H
#endif
