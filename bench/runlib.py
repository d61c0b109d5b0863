"""
bench/runlib.py — bench/run (a script without .py) as a module, for the other
benchmark scripts (search.py, delivery.py): server setup, cleanup, process
accounting and the machine description live there once.
"""
import importlib.machinery
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def load():
    loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod
