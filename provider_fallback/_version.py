"""The package version (kept in step with pyproject.toml's), importable from anywhere in the
package without importing the package root."""

__version__ = "0.1.0"
