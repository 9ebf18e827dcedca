"""Causes inside an Istio service mesh, between the sidecars: routes to hosts
or subsets that do not exist, mTLS settings the two ends disagree on, Service
ports that declare another protocol than the app speaks, and outlier
detection that can eject every host."""
