"""Django project that runs the perfprobe demo against the sample shop."""
