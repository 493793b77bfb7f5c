"""A WebSocket server on ``websockets`` protected by ``tessera_middleware``: ``python -m examples.ws_server``."""
