"""The device: configuration, the command line, and (later) the daemon, button and sessions."""
