"""`python -m bench` (what `make bench` runs): every benchmark, figures on stdout."""

from bench import cold_start, package_size

if __name__ == "__main__":
    cold_start.report()
    print()
    package_size.report()
