import os

# The repository's top directory: the shipped docs and etc/ are read from it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
