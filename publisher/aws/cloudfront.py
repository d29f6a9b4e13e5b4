"""CloudFront invalidations, on a client it is handed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from ..errors import StorageError, TooManyInvalidationsError
from .translate import ClientError, WaiterError, error_code, translate


class CloudFront:
    """The CloudFront calls of the purge adapter."""

    def __init__(self, cloudfront: Any, distribution_id: str) -> None:
        self.cf = cloudfront
        self.distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str]) -> str:
        """Create one invalidation batch; return its id."""
        batch = {
            "Paths": {"Quantity": len(paths), "Items": list(paths)},
            "CallerReference": f"publisher-{time.time():.0f}-{uuid.uuid4().hex[:8]}",
        }
        try:
            response = self.cf.create_invalidation(
                DistributionId=self.distribution_id, InvalidationBatch=batch
            )
        except ClientError as exc:
            if error_code(exc) == "TooManyInvalidationsInProgress":
                raise TooManyInvalidationsError(str(exc)) from None
            if error_code(exc) == "NoSuchDistribution":
                raise StorageError(
                    f"CloudFront distribution {self.distribution_id} does not exist: "
                    "check --distribution-id"
                ) from None
            raise translate(
                exc, f"CloudFront distribution {self.distribution_id}", "CloudFront"
            ) from None
        except Exception as exc:
            raise translate(
                exc, f"CloudFront distribution {self.distribution_id}", "CloudFront"
            ) from None
        return str(response["Invalidation"]["Id"])

    def wait(self, invalidation_id: str, timeout: float) -> None:
        try:
            waiter = self.cf.get_waiter("invalidation_completed")
            waiter.wait(
                DistributionId=self.distribution_id,
                Id=invalidation_id,
                WaiterConfig={"Delay": 10, "MaxAttempts": max(1, int(timeout // 10))},
            )
        except WaiterError as exc:
            raise StorageError(f"invalidation {invalidation_id} did not complete: {exc}") from None
