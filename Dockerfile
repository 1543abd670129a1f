# Container images for compose.yaml: the Swift binary (app, migrate) and nginx with the
# Swagger UI assets installed from PyPI and Chart.js from Debian at build time (never
# committed).

FROM swift:6.0-bookworm AS builder
RUN apt-get update && apt-get install -y --no-install-recommends libfcgi-dev libpq-dev libssl-dev \
    libcurl4-openssl-dev libcairo2-dev libpango1.0-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
RUN swift build -c release --static-swift-stdlib \
    && cp .build/release/billing .build/release/billing-pdf /usr/local/bin/

FROM python:3.11-slim AS docs
RUN pip install --no-cache-dir --target /py swagger-ui-bundle-v2==5.31.0 \
    && mkdir /docs && cp /py/swagger_ui_bundle/vendor/swagger-ui-*/* /docs/
COPY nginx/swagger-initializer.js /docs/swagger-initializer.js

FROM debian:bookworm-slim AS app
RUN apt-get update && apt-get install -y --no-install-recommends libfcgi-bin libpq5 libssl3 libcurl4 \
    libpangocairo-1.0-0 fonts-dejavu-core fonts-wqy-microhei tzdata ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /srv billing
# The Swift runtime is linked in; billing-pdf, the workers' PDF renderer, sits beside billing.
COPY --from=builder /usr/local/bin/billing /usr/local/bin/billing-pdf /usr/local/bin/
COPY sql /srv/sql
WORKDIR /srv
USER billing
ENTRYPOINT ["billing"]
CMD ["serve", "--socket", "0.0.0.0:9000", "--workers", "2", "--threads", "4"]

FROM nginx:1.27-bookworm AS nginx
RUN apt-get update && apt-get install -y --no-install-recommends libjs-chart.js \
    && mkdir -p /srv/dashboard && cp /usr/share/javascript/chart.js/Chart.min.js /srv/dashboard/chart.min.js \
    && apt-get purge -y libjs-chart.js && rm -rf /var/lib/apt/lists/*
COPY nginx/dashboard /srv/dashboard
COPY --from=docs /docs /srv/docs
COPY nginx/openapi.yaml /srv/openapi.yaml
