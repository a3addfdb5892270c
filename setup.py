"""Which packages a build carries. The code's packages are found (every folder of vlmgrade/ with an
__init__.py); the built-in zoo cards and rubrics live at the top of the repository and are carried as the
packages vlmgrade._zoo and vlmgrade._rubrics, so a wheel holds them too (core/assets.py finds either)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["vlmgrade", "vlmgrade.*"]), "vlmgrade._zoo", "vlmgrade._rubrics"],
      package_dir={"vlmgrade._zoo": "zoo", "vlmgrade._rubrics": "rubrics"})
