"""The nginx configuration (nginx/) run by the host nginx, outside Docker."""
