"""What families buy: prices, the cart, orders, payments, receipts and entitlements."""
