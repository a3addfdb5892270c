"""judges/llm"""
