"""Imported by plugin_with_sibling.py from the same directory (a file plugin's neighbour)."""
ENV_NAME = "PLANTED_LIBRARY_SETTING"   # a library setting, as TF_ENABLE_ONEDNN_OPTS is: not a conv-oracle variable
