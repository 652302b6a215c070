# Only for `scrapyd-deploy`, which builds an egg with `setup.py bdist_egg`. Everything (packages,
# package data, the `scrapy` entry point) is declared in pyproject.toml, which setuptools reads.
from setuptools import setup

setup()
