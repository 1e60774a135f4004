//! Sans-IO WebSocket frame codec (work in progress).
