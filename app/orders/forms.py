"""Forms of the cart, the checkout and the price list."""

from __future__ import annotations

from typing import Any

from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from app.i18n import lazy_gettext as _l
from app.orders.models import PaymentMethod, Product
from app.orders.services import MAX_PRICE_YEN, MAX_PRINT_QUANTITY, PRODUCT_LABELS
from app.web.forms import Form


class AddToCartForm(Form):
    """A photo, a product and how many: the price and the family come from the server."""

    photo_id = IntegerField(validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)])
    product = SelectField(
        _l("What to buy"),
        choices=[SelectChoice(product.value, PRODUCT_LABELS[product]) for product in Product],
        validators=[DataRequired()],
    )
    quantity = IntegerField(
        _l("How many"), default=1, validators=[Optional(), NumberRange(1, MAX_PRINT_QUANTITY)]
    )
    next = HiddenField(validators=[Optional(), Length(max=2000)])


class QuantityForm(Form):
    quantity = IntegerField(
        _l("How many"), validators=[InputRequired(), NumberRange(1, MAX_PRINT_QUANTITY)]
    )


class CheckoutForm(Form):
    """The order as the family saw it: the key makes a double submit one order, the total
    makes a cart that changed meanwhile ask again."""

    idempotency_key = HiddenField(validators=[DataRequired(), Length(min=8, max=64)])
    confirmed_total = HiddenField(validators=[DataRequired(), Regexp(r"^[0-9]{1,9}$")])
    method = RadioField(_l("How to pay"), validators=[DataRequired()])

    def __init__(self, *args: Any, methods: list[PaymentMethod], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = {
            PaymentMethod.INVOICE: _l("School invoice: pay by bank transfer or in cash at school"),
            PaymentMethod.STRIPE: _l("Card or konbini (Stripe)"),
        }
        self.method.choices = [SelectChoice(method.value, labels[method]) for method in methods]
        if not self.method.data and methods:
            self.method.data = methods[0].value


class PriceListForm(Form):
    """The event's prices in yen, tax included (empty: not sold), and the download terms."""

    downloads_allowed = IntegerField(
        _l("Downloads of each bought photo"),
        default=3,
        validators=[InputRequired(), NumberRange(1, 20)],
    )
    download_days = IntegerField(
        _l("Days to download in, from payment"),
        default=30,
        validators=[InputRequired(), NumberRange(1, 365)],
    )


for _product in Product:
    setattr(
        PriceListForm,
        f"price_{_product.value}",
        IntegerField(
            _l("%(product)s (yen, tax included)", product=PRODUCT_LABELS[_product]),
            validators=[Optional(), NumberRange(1, MAX_PRICE_YEN)],
        ),
    )


class MarkPaidForm(Form):
    via = SelectField(
        _l("Paid by"),
        choices=[
            SelectChoice("bank_transfer", _l("Bank transfer")),
            SelectChoice("cash", _l("Cash at school")),
        ],
        validators=[DataRequired()],
    )


class SellerForm(Form):
    """Who receipts name as the seller, and its qualified-invoice registration number."""

    seller_name = StringField(_l("Seller on receipts"), validators=[Optional(), Length(max=200)])
    invoice_registration = StringField(
        _l("Qualified-invoice registration number (T and 13 digits)"),
        validators=[
            Optional(),
            Regexp(r"^T[0-9]{13}$", message=_l("Write T followed by the 13 digits.")),
        ],
    )
