#!/usr/bin/env python3
"""GET a URL (the tests' Prometheus scrape, run inside a namespace) and print what came back:
the status code, the Content-Type, an empty line, then the body. Exit status 0 for any HTTP answer,
1 when no answer came (refused, timed out). Usage: http_get.py URL [timeout-seconds]"""
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = sys.argv[1]
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    except (OSError, urllib.error.URLError) as error:
        print(f"no answer: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(f"{status}\n{headers.get('Content-Type', '')}\n\n")
    sys.stdout.write(body.decode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
