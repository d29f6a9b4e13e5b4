"""botocore's errors turned into ours: one clear line that says the fix."""

from __future__ import annotations

import re

import botocore.exceptions as bex

from ..errors import PublisherError, StorageError, UsageError
from ..redact import printable, redact_paths

ClientError = bex.ClientError
WaiterError = bex.WaiterError

_REGION_CODES = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
_CRED_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}


def error_code(exc: bex.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: bex.ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def no_credentials() -> StorageError:
    return StorageError(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "AWS_PROFILE or --profile (the standard boto3 credential chain; with a profile "
        "named, the keys must be in that profile: the variables are not read)"
    )


def credentials_failed(exc: Exception, profile: str) -> PublisherError:
    """One line for credentials the chain could not load: what failed, never what a
    credential process printed (it may hold a secret)."""
    name = type(exc).__name__
    if "SSO" in name or "Token" in name:
        return UsageError(
            f"the SSO login of profile {printable(profile)} is missing or expired: run "
            f"aws sso login --profile {printable(profile)}"
        )
    if isinstance(exc, RuntimeError) and "expired" in str(exc):
        return UsageError(
            f"the AWS credentials of profile {printable(profile)} have expired, even "
            "refreshed: renew them (a new session token, a credential_process that "
            "answers with a later Expiration)"
        )
    return UsageError(
        f"the AWS credentials of profile {printable(profile)} could not be loaded ({name}): "
        "check its credential_process, SSO or role settings"
    )


def translate(
    exc: Exception, where: str, endpoint: str, setting: str = "--endpoint-url"
) -> PublisherError:
    """Turn a botocore error into one clear line that says the fix; `setting` is where
    the endpoint was set (a flag, a variable, the AWS config)."""
    if isinstance(exc, PublisherError):
        return exc
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return no_credentials()
    if isinstance(exc, bex.SSLError):
        return tls_failed(str(exc), endpoint, setting)
    if isinstance(
        exc, bex.EndpointConnectionError | bex.ConnectTimeoutError | bex.ProxyConnectionError
    ):
        return StorageError(f"cannot reach {endpoint}: check {setting} and the network")
    if isinstance(exc, bex.ClientError):
        code, status = error_code(exc), http_status(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return StorageError(
                f"{where} does not exist at {endpoint}: create it "
                f"(publisher init-bucket --create) or check the name and {setting}"
            )
        if code in _REGION_CODES or status == 301:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            region = headers.get("x-amz-bucket-region") or exc.response.get("Error", {}).get(
                "Region"
            )
            hint = f"pass --region {region}" if region else "pass the bucket's --region"
            return StorageError(f"{where} is in another region than the client's: {hint}")
        if code in _CRED_CODES:
            return StorageError(f"the credentials were rejected by {endpoint} ({code}): check them")
        if code == "AccessDenied" or status == 403:
            return StorageError(
                f"access denied to {where}: the credentials need s3:ListBucket, s3:GetObject, "
                "s3:PutObject and s3:DeleteObject on it"
            )
        return StorageError(redact_paths(f"{where}: {code or status}: {message}".rstrip(": ")))
    if isinstance(exc, bex.BotoCoreError):
        return StorageError(redact_paths(f"{where}: {without_secrets(str(exc))}"))
    if isinstance(exc, ValueError) and _HEADER.search(str(exc)):
        return StorageError(f"{where}: {without_secrets(str(exc))}")
    raise exc


_HEADER = re.compile(r"[Ii]nvalid (header|return character|leading whitespace)|Authorization")


def tls_failed(text: str, endpoint: str, setting: str) -> StorageError:
    """The line for a TLS failure: a certificate for another host, a certificate not
    trusted (the fix: the CA bundle), or no TLS at all there (an http server named https)."""
    if re.search(r"doesn't match|does not match|NotValidForName|hostname mismatch", text, re.I):
        return StorageError(
            f"the TLS certificate of {endpoint} is for another host name: check {setting}"
        )
    if re.search(r"certificate|UnknownIssuer|verify failed", text, re.I):
        return StorageError(
            f"the TLS certificate of {endpoint} was refused: set AWS_CA_BUNDLE or the "
            "profile's ca_bundle to the CA that signed it"
        )
    return StorageError(
        f"no TLS connection with {endpoint}: check that {setting} names a server that "
        "speaks https (or give an http:// URL)"
    )


def without_secrets(text: str) -> str:
    """An error that quotes a header (an invalid value, the Authorization line) may hold a
    credential: say what is wrong instead of quoting it."""
    if _HEADER.search(text):
        return (
            "a credential or header holds a character HTTP does not allow (a trailing "
            "newline or space in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY or "
            "AWS_SESSION_TOKEN?)"
        )
    return text


def is_precondition_failed(exc: Exception) -> bool:
    return isinstance(exc, bex.ClientError) and (
        error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict")
        or http_status(exc) in (409, 412)
    )


def is_not_implemented(exc: Exception) -> bool:
    return isinstance(exc, bex.ClientError) and (
        error_code(exc) in ("NotImplemented", "InvalidArgument") or http_status(exc) == 501
    )
