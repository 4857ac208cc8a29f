// Package money: STUB, replaced by the money helper.
package money

import "github.com/shopspring/decimal"

// Currency is an ISO 4217 currency with its minor unit.
type Currency struct {
	Code   string
	Places int32
}

// Amount is a non-negative amount of one currency at its minor unit.
type Amount struct {
	value decimal.Decimal
	cur   Currency
}

func LookupCurrency(code string) (Currency, error)               { panic("stub") }
func New(d decimal.Decimal, cur Currency) (Amount, error)        { panic("stub") }
func Zero(cur Currency) Amount                                   { panic("stub") }
func (a Amount) Decimal() decimal.Decimal                        { return a.value }
func (a Amount) Currency() Currency                              { return a.cur }
func (a Amount) String() string                                  { panic("stub") }
func (a Amount) IsZero() bool                                    { panic("stub") }
func (a Amount) Add(b Amount) (Amount, error)                    { panic("stub") }
func (a Amount) Sub(b Amount) (Amount, error)                    { panic("stub") }
func (a Amount) Cmp(b Amount) int                                { panic("stub") }
func Prorate(paid Amount, num, den int64) (Amount, error)        { panic("stub") }
func Split(total Amount, weights []Amount) ([]Amount, error)     { panic("stub") }
func CapRefund(refund, cashPaid, already Amount) (Amount, error) { panic("stub") }
