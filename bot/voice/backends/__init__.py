"""Generation backends beyond the local transformers one: an OpenAI-compatible server (openai_compat), llama.cpp
in-process (llamacpp), and the style brief an API model writes from (brief)."""
