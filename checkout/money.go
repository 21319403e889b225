package checkout

import (
	"errors"
	"math"
)

// errMoneyOverflow is a sum of money too large to hold: refused, never
// wrapped around.
var errMoneyOverflow = errors.New("amount out of range")

// lineAmount is quantity × unit with overflow checked; both must be
// non-negative.
func lineAmount(quantity int, unit int64) (int64, error) {
	if quantity < 0 || unit < 0 {
		return 0, errMoneyOverflow
	}
	if quantity != 0 && unit > math.MaxInt64/int64(quantity) {
		return 0, errMoneyOverflow
	}
	return int64(quantity) * unit, nil
}

// addMoney is a + b for non-negative amounts, overflow checked.
func addMoney(a, b int64) (int64, error) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, errMoneyOverflow
	}
	return a + b, nil
}

// sumLines totals sale lines with checked arithmetic.
func sumLines(lines []SaleLine) (int64, error) {
	var total int64
	for _, l := range lines {
		amt, err := lineAmount(l.Quantity, l.UnitAmount)
		if err != nil {
			return 0, err
		}
		if total, err = addMoney(total, amt); err != nil {
			return 0, err
		}
	}
	return total, nil
}
