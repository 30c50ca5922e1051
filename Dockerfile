FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY billsync ./billsync
COPY workers ./workers
COPY statemachine ./statemachine
COPY adapters ./adapters
COPY simulators ./simulators
COPY migrations ./migrations
COPY salesforce/force-app ./salesforce/force-app
RUN pip install --no-cache-dir . && useradd --system billsync
USER billsync
ENTRYPOINT ["billsync"]
CMD ["worker"]
