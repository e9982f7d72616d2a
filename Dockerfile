# syntax=docker/dockerfile:1
# The Datalab hub image: the Zero to JupyterHub chart 4.4.0 hub image (JupyterHub 5.5.0, KubeSpawner 7.0.0,
# OAuthenticator 17.4.0), plus jupyterhub-datalab at the repository's version and the built-in catalog.
#
# Build it from the repository root, after `scripts/bootstrap.sh labextension` (the wheel, built by
# images/wheel.py like the single-user images' one, carries the JupyterLab extension); images/build.sh does
# both and builds it with the single-user images, all named from one registry prefix:
#   docker build -t registry.example.org/datalab/datalab-hub:0.1.0 .
#
# The catalog is baked in at /usr/local/share/datalab/profiles ($DATALAB_CATALOG_DIR). The helm values
# (helm-values/values.yaml) mount the production catalog from a ConfigMap at /etc/datalab/catalog
# instead and point CatalogSpawner.catalog_dir there; the empty directories below are its mount points.

# Must equal `version` in pyproject.toml: the wheel's file name carries it, so a mismatch fails the build.
ARG DATALAB_VERSION=0.1.0

FROM quay.io/jupyterhub/k8s-hub:4.4.0 AS wheel
ARG DATALAB_VERSION
USER 0
# The build context is what .dockerignore keeps: the sources and every data file the wheel carries.
COPY . /src
RUN python /src/images/wheel.py /wheels "${DATALAB_VERSION}"
USER 1000

FROM quay.io/jupyterhub/k8s-hub:4.4.0
ARG DATALAB_VERSION
LABEL org.opencontainers.image.title="datalab-hub" \
      org.opencontainers.image.description="JupyterHub for the Datalab: catalog spawner, OIDC login, S3/Vault credentials" \
      org.opencontainers.image.version="${DATALAB_VERSION}" \
      org.opencontainers.image.licenses="BSD-3-Clause"

USER 0
COPY --from=wheel /wheels/ /tmp/wheels/
# The chart's versions of JupyterHub, KubeSpawner and OAuthenticator stay as they are (pip constraints).
COPY helm-values/z2jh-4.4.0-constraints.txt /tmp/z2jh-constraints.txt
RUN pip install --no-cache-dir --constraint /tmp/z2jh-constraints.txt \
      "/tmp/wheels/jupyterhub_datalab-${DATALAB_VERSION}-py3-none-any.whl[hub]" \
 && rm -rf /tmp/wheels /tmp/z2jh-constraints.txt \
 && python -c "import spawner.kube.spawner, spawner.local.spawner, hub.auth, hub.config, hub.credentials.api, hub.pages"

COPY profiles/ /usr/local/share/datalab/profiles/
ENV DATALAB_CATALOG_DIR=/usr/local/share/datalab/profiles
# The baked catalog must be valid; the mount points of the ConfigMap catalog are empty directories.
RUN datalab profiles lint "${DATALAB_CATALOG_DIR}" \
 && mkdir -p /etc/datalab/catalog/services /etc/datalab/catalog/lists /etc/datalab/catalog/icons

# The chart runs the hub as uid 1000 (jovyan, the base image's user) with runAsNonRoot.
USER 1000
