# What the SAM makefile builds of the layer and the proxy share (included by their Makefiles):
# packages for the Lambda runtime (python3.13 on arm64, whatever this machine is), the sources,
# and bytecode that the runtime will use as it is. sam build's cache knows only the CodeUri and
# ContentUri directories: after editing this file, `make clean build`.
#
# LAMBDA_PYTHON is the runtime's interpreter: its pip picks the wheels and its compiler writes
# the .pyc files, whose magic number must be the runtime's (`make bench` checks the build).
LAMBDA_PYTHON := python3.13
# What `sam build` asks pip for with BuildArchitecture arm64 on python3.13 (aws-lambda-builders'
# compatible platforms: the runtime has glibc 2.34), binary wheels only.
LAMBDA_WHEELS := --only-binary=:all: --implementation cp --python-version 3.13 --abi cp313 \
	--platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
	--platform manylinux_2_34_aarch64

# $(call pip_install,requirements file,target directory)
define pip_install
$(LAMBDA_PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile \
	$(LAMBDA_WHEELS) --target "$(2)" -r "$(1)"
rm -rf "$(2)/bin"
endef

# $(call copy_sources,files and directories,target directory): without the developer's bytecode
define copy_sources
mkdir -p "$(2)"
cp -R $(1) "$(2)/"
find "$(2)" -name __pycache__ -prune -exec rm -rf {} +
endef

# $(call compile,directory): unchecked-hash .pyc files, see layers/common/Makefile for why.
define compile
$(LAMBDA_PYTHON) -m compileall -q -f -j 0 --invalidation-mode unchecked-hash "$(1)"
endef
