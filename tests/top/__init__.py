"""tcpq top: the model (pure), the app under a pilot, the real view in tmux, the piped fallback."""
