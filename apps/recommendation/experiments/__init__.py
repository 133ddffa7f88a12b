"""A/B tests of the recommendation app: an experiment splits a tenant's end users between two
arms (a model version, or popularity) by a stable hash, every served list records its arm, and
clicks and conversions are attributed to the list and its arm (``stats`` holds the arithmetic:
Wilson intervals and a two-proportion z-test)."""
