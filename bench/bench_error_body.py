"""What filling an error's fix steps costs on the error path: an all_providers_failed
body (the gateway's most common error) built with and without the config's facts, against
building the error alone, in the same run.

    python bench/bench_error_body.py [--n 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import timeit

from provider_fallback.errors import REGISTRY, AllProvidersFailedError, Attempt, Facts, Failure

FAIL = Failure(REGISTRY["connection_refused"], provider="litellm", model="groq-70b")
FACTS = Facts.of(provider="litellm", base_url="http://127.0.0.1:4299/v1",
                 env_var="LITELLM_MASTER_KEY", config="provider_config.yaml",
                 gateway_url="http://127.0.0.1:4100")
ATTEMPTS = [Attempt("litellm", "groq-70b", "connection_refused", None, 1.2)]


def error() -> AllProvidersFailedError:
    return AllProvidersFailedError("chat", ATTEMPTS, last=FAIL)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    cases = {"build the error": error,
             "body, own facts only": lambda: error().to_openai_error(),
             "body, filled from the config": lambda: error().to_openai_error(FACTS)}
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):            # interleaved: the machine's noise hits all alike
        for name, fn in cases.items():
            results[name].append(timeit.timeit(fn, number=args.n) / args.n * 1e6)
    base = statistics.median(results["build the error"])
    for name, times in results.items():
        median = statistics.median(times)
        print(f"{name:32s} {median:6.1f} us  ({median / base:.2f}x building the error)")


if __name__ == "__main__":
    main()
