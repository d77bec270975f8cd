"""Analysis backends behind one protocol: llama.cpp in-process, an OpenAI-compatible server, rules."""
