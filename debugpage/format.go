package debugpage

import "strconv"

// formatMiB renders a byte count in MiB with one decimal.
func formatMiB(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
