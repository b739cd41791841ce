"""Sessions: the directory format every recording, the digital twin and replay meet at."""
