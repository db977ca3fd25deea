package metrics

import dtomodel "github.com/prometheus/client_model/go"

type dto = dtomodel.MetricFamily
