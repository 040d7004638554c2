"""Drive the demo's endpoints with concurrent HTTP clients and compare both sides."""
