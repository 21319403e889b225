package delivery

import (
	"context"

	"github.com/merchd/merchd/checkout"
	"github.com/merchd/merchd/checkout/txn"
	"github.com/merchd/merchd/ent"
	"github.com/merchd/merchd/ent/customeraddress"
)

// MaxAddresses bounds a customer's saved addresses.
const MaxAddresses = 50

// Saved addresses are written and read as the customer: the privacy
// policy of CustomerAddress (ent/schema/delivery.go) lets a customer see
// and change only their own, so another customer's id is not found.

// CreateAddress saves an address for the signed-in customer.
func (s *Service) CreateAddress(ctx context.Context, label string, a Address, key string) (*ent.CustomerAddress, error) {
	customerID, err := checkout.RequireCustomer(ctx)
	if err != nil {
		return nil, err
	}
	if label, err = text("label", label, 100, false); err != nil {
		return nil, err
	}
	if a, err = ValidateAddress("address", a); err != nil {
		return nil, err
	}
	req := struct {
		Label   string
		Address Address
	}{label, a}
	id, err := txn.Idempotent(ctx, s.db, "createAddress", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		n, err := tx.CustomerAddress.Query().Count(ctx)
		if err != nil {
			return 0, err
		}
		if n >= MaxAddresses {
			return 0, &checkout.LimitError{What: "saved addresses", Limit: MaxAddresses, Have: n}
		}
		c, err := tx.CustomerAddress.Create().SetCustomerID(customerID).SetLabel(label).SetAddress(a).Save(ctx)
		if err != nil {
			return 0, err
		}
		return c.ID, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.CustomerAddress.Get(ctx, id)
}

// UpdateAddress changes one of the signed-in customer's addresses; nil
// leaves a part as it is. Orders placed keep the copy they were placed with.
func (s *Service) UpdateAddress(ctx context.Context, id int, label *string, a *Address, key string) (*ent.CustomerAddress, error) {
	if _, err := checkout.RequireCustomer(ctx); err != nil {
		return nil, err
	}
	if label != nil {
		l, err := text("label", *label, 100, false)
		if err != nil {
			return nil, err
		}
		label = &l
	}
	if a != nil {
		v, err := ValidateAddress("address", *a)
		if err != nil {
			return nil, err
		}
		a = &v
	}
	req := struct {
		ID      int
		Label   *string
		Address *Address
	}{id, label, a}
	_, err := txn.Idempotent(ctx, s.db, "updateAddress", key, req, func(ctx context.Context, tx *ent.Tx) (int, error) {
		u := tx.CustomerAddress.UpdateOneID(id).SetNillableLabel(label)
		if a != nil {
			u.SetAddress(*a)
		}
		if _, err := u.Save(ctx); err != nil {
			return 0, checkout.NotFoundAs(err, "address")
		}
		return id, nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.CustomerAddress.Get(ctx, id)
}

// DeleteAddress forgets one of the signed-in customer's addresses.
func (s *Service) DeleteAddress(ctx context.Context, id int, key string) error {
	if _, err := checkout.RequireCustomer(ctx); err != nil {
		return err
	}
	_, err := txn.Idempotent(ctx, s.db, "deleteAddress", key, id, func(ctx context.Context, tx *ent.Tx) (int, error) {
		if err := tx.CustomerAddress.DeleteOneID(id).Exec(ctx); err != nil {
			return 0, checkout.NotFoundAs(err, "address")
		}
		return id, nil
	})
	return err
}

// Addresses lists the signed-in customer's saved addresses, newest first.
func (s *Service) Addresses(ctx context.Context) ([]*ent.CustomerAddress, error) {
	if _, err := checkout.RequireCustomer(ctx); err != nil {
		return nil, err
	}
	return s.db.CustomerAddress.Query().Order(ent.Desc(customeraddress.FieldCreatedAt), ent.Desc(customeraddress.FieldID)).All(ctx)
}
