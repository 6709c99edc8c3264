"""Channel adapters: one module per channel, each implementing :class:`ChannelAdapter`."""
