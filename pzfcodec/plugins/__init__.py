"""Folder of the HDF5 filter plugin library; put it on ``HDF5_PLUGIN_PATH``."""
