"""A Celery app as people write them: the broker is Warren over AMQP (py-amqp via
kombu), results come back through the `rpc://` backend (reply queues)."""

import os

from celery import Celery

BROKER = "amqp://guest:guest@{}:{}//".format(
    os.environ.get("WARREN_AMQP_HOST", "127.0.0.1"),
    os.environ.get("WARREN_AMQP_PORT", "5672"),
)

app = Celery("warren_tasks", broker=BROKER, backend="rpc://")
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(x, y):
    return x + y


@app.task(bind=True, max_retries=3, default_retry_delay=0)
def flaky(self, attempts_before_success):
    """Fails (and is retried by Celery through the broker) until its retries reach the given count."""
    if self.request.retries < attempts_before_success:
        raise self.retry(exc=RuntimeError("not yet"))
    return self.request.retries
