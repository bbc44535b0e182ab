"""Imported by plugin_with_sibling.py from the same directory (a file plugin's neighbour)."""
ENV_NAME = "CONV_ORACLE_TEST_LIBRARY_SETTING"
