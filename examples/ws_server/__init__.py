"""A WebSocket server on ``websockets`` protected by ``idp.middleware``: ``python -m examples.ws_server``."""
