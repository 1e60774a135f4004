//! Sans-IO WebSocket opening handshake (work in progress).
