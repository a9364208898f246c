import PipeAgent
print(PipeAgentProbe.version())
