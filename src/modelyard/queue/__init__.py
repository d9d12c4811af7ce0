"""Work queues: where accepted predictions wait for a model instance."""

from modelyard.queue.base import Queue, QueueItem
from modelyard.queue.local import LocalQueue

__all__ = ["LocalQueue", "Queue", "QueueItem"]
