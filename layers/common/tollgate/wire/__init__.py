"""Client-facing wire formats translated to and from the proxy's internal OpenAI chat shape."""
