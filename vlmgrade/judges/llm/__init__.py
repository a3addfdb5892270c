"""Judges that send requests: the OpenAI-compatible client and request bodies (openai), a local transformers
chat model (hf), the Batch API transport (batch), rate limits and probability-weighted scores."""
