"""documents.md through nginx and the pool: hosted invoice pages (escaped, no script, money
by the currency's minor unit) and PDFs read back with poppler (`pdftotext`, `pdffonts`,
`pdfinfo`): the same bytes ever after, fonts embedded, any name whole."""

import os
import re
import signal
import subprocess
import tempfile
import time

import requests

from conftest import BASE_URL, fire, new_customer, new_plan, sql, subscribe, unique
from pool import Pool

UNICODE_NAME = "Zoë Åström 王小明"
HOSTILE = "<script>alert(1)</script> & \"quotes\" ') %PDF-1.4 (x) Tj"


def one_off(client, customer, items, currency="EUR", finalize=True):
    """A one-off invoice of `items` (description, amount) for `customer`."""
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": currency}).json()
    for description, amount in items:
        response = client.post("/invoice-items", {
            "customer_id": customer["id"], "description": description, "amount_cents": amount,
            "invoice_id": draft["id"]})
        assert response.status_code == 201, response.text
    if not finalize:
        return client.get(f"/invoices/{draft['id']}").json()
    finalized = client.post(f"/invoices/{draft['id']}/finalize")
    assert finalized.status_code == 200, finalized.text
    return finalized.json()


def path_of(invoice):
    url = invoice["hosted_invoice_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/i/[A-Za-z0-9_-]{22}", url), url
    return url[url.index("/i/"):]


def pdf_text(pdf):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        text = subprocess.run(["pdftotext", "-layout", f.name, "-"], check=True, capture_output=True, text=True)
        fonts = subprocess.run(["pdffonts", f.name], check=True, capture_output=True, text=True)
        info = subprocess.run(["pdfinfo", f.name], check=True, capture_output=True, text=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    return text.stdout, fonts.stdout, pages


def test_a_finalized_invoice_has_a_page_a_customer_can_read(client):
    customer = new_customer(client, name=f"{UNICODE_NAME} {HOSTILE}")
    invoice = one_off(client, customer, [("Consulting <b>bold</b>", 150000), ("Support", 2500)])
    response = requests.get(BASE_URL + path_of(invoice), timeout=10)  # no API key
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "private, max-age=60"
    assert response.headers["X-Robots-Tag"] == "noindex"
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none';") and "script-src" not in policy and "unsafe" not in policy
    page = response.text
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;)" in page
    assert UNICODE_NAME in page and customer["email"] in page
    assert "Consulting &lt;b&gt;bold&lt;/b&gt;" in page
    assert invoice["number"] in page and "Example Billing GmbH" in page and "DE123456789" in page
    assert "€1,500.00" in page and "€25.00" in page and "€1,525.00" in page
    assert "PAID" not in page
    assert f'href="{path_of(invoice)}/pdf"' in page


def test_a_draft_has_no_page_and_unknown_tokens_are_404(client):
    customer = new_customer(client)
    draft = one_off(client, customer, [("Work", 1000)], finalize=False)
    assert draft["status"] == "draft" and draft["hosted_invoice_url"] is None
    token = sql(f"SELECT hosted_token FROM invoices WHERE id = '{draft['id']}'")[0][0]
    for path in [f"/i/{token}", f"/i/{token}/pdf", "/i/AAAAAAAAAAAAAAAAAAAAAA", "/i/short", "/i/%3Cscript%3E",
                 "/i/" + "A" * 200, "/i/AAAAAAAAAAAAAAAAAAAAAA/pdf"]:
        response = client.get(path, auth=False)
        assert response.status_code == 404, (path, response.text)
    # A draft's PDF does not exist yet; an unknown invoice's never will.
    assert client.get(f"/invoices/{draft['id']}/pdf").status_code == 409
    assert client.get("/invoices/00000000-0000-7000-8000-000000000000/pdf").status_code == 404
    assert client.get(f"/invoices/{draft['id']}/pdf", auth=False).status_code == 401


def test_money_is_written_by_the_currency_minor_unit(client):
    for currency, amount, written in [("JPY", 1500, "¥1,500"), ("EUR", 2500, "€25.00"), ("KWD", 1500, "KWD 1.500")]:
        customer = new_customer(client)
        invoice = one_off(client, customer, [("Thing", amount)], currency=currency)
        page = requests.get(BASE_URL + path_of(invoice), timeout=10).text
        assert written in page, (currency, written)
        text, _, _ = pdf_text(client.get(f"/invoices/{invoice['id']}/pdf").content)
        assert written in text, (currency, written)


def test_the_page_follows_the_invoice_and_the_pdf_stays_as_finalized(client):
    customer = new_customer(client, name=UNICODE_NAME)
    invoice = one_off(client, customer, [("Annual licence", 10000)])
    first = client.get(f"/invoices/{invoice['id']}/pdf")
    assert first.status_code == 200 and first.headers["Content-Type"] == "application/pdf"
    assert first.content.startswith(b"%PDF-")
    text, fonts, pages = pdf_text(first.content)
    assert invoice["number"] in text and UNICODE_NAME in text and "Annual licence" in text and "€100.00" in text
    assert pages == 1
    embedded = [line.split() for line in fonts.splitlines()[2:] if line.strip()]
    assert embedded and all(row[-5] == "yes" for row in embedded), fonts  # the "emb" column
    assert client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 4000, "reference": "wire 1"}).status_code == 201
    note = client.post("/credit-notes", {"invoice_id": invoice["id"], "amount_cents": 1000, "memo": HOSTILE})
    assert note.status_code == 201, note.text
    assert client.post(f"/invoices/{invoice['id']}/payments", {"amount_cents": 5000}).status_code == 201
    page = requests.get(BASE_URL + path_of(invoice), timeout=10).text
    assert "PAID" in page and "wire 1" in page and note.json()["number"] in page and "€0.00" in page
    # The PDF is the invoice as it was finalized: the same bytes, by id and by token.
    assert client.get(f"/invoices/{invoice['id']}/pdf").content == first.content
    hosted = requests.get(BASE_URL + path_of(invoice) + "/pdf", timeout=10)
    assert hosted.content == first.content and hosted.headers["X-Robots-Tag"] == "noindex"
    assert hosted.headers["Cache-Control"] == "private, max-age=60"
    # The credit note has a PDF of its own, its memo as plain text.
    note_pdf = client.get(f"/credit-notes/{note.json()['id']}/pdf")
    assert note_pdf.status_code == 200
    text, _, _ = pdf_text(note_pdf.content)
    assert note.json()["number"] in text and invoice["number"] in text and "€10.00" in text
    assert HOSTILE in " ".join(text.split()), text
    assert client.get(f"/credit-notes/{note.json()['id']}/pdf").content == note_pdf.content


def test_void_and_uncollectible_are_marked(client):
    customer = new_customer(client)
    voided = one_off(client, customer, [("Work", 1000)])
    assert client.post(f"/invoices/{voided['id']}/void").status_code == 200
    assert "VOID" in requests.get(BASE_URL + path_of(voided), timeout=10).text
    lost = one_off(client, customer, [("Work", 1000)])
    assert client.post(f"/invoices/{lost['id']}/mark-uncollectible").status_code == 200
    assert "UNCOLLECTIBLE" in requests.get(BASE_URL + path_of(lost), timeout=10).text


def test_a_subscription_invoice_shows_its_period_discount_and_tax(client):
    vat = client.post("/tax-rates", {"display_name": "VAT", "percentage": "19", "inclusive": False}).json()
    customer = new_customer(client)
    client.patch(f"/customers/{customer['id']}", {"tax_rate_ids": [vat["id"]]})
    coupon = client.post("/coupons", {"code": unique("TEN"), "name": "Ten off", "percent_off": "10",
                                      "duration": "forever"}).json()
    response = subscribe(client, customer, new_plan(client, amount_cents=10000), coupon=coupon["code"])
    assert response.status_code == 201, response.text
    invoice = client.get(f"/invoices?customer_id={customer['id']}").json()["data"][0]
    page = requests.get(BASE_URL + path_of(invoice), timeout=10).text
    assert f"Discount ({coupon['code']})" in page and "-€10.00" in page
    assert "VAT (19%)" in page and "€17.10" in page and "€107.10" in page
    text, _, _ = pdf_text(client.get(f"/invoices/{invoice['id']}/pdf").content)
    assert "VAT (19%)" in text and "€107.10" in text


def test_a_long_invoice_runs_onto_more_pages(client):
    customer = new_customer(client)
    items = [(f"Line {n:03d} {HOSTILE}", 100 + n) for n in range(200)]
    invoice = one_off(client, customer, items)
    text, _, pages = pdf_text(client.get(f"/invoices/{invoice['id']}/pdf").content)
    assert pages >= 7, pages  # about 30 lines a page
    for n in range(200):
        assert f"Line {n:03d}" in text, n
    assert "Page 7" in text and "(continued)" in text


def test_racing_first_renders_store_one_pdf(client):
    customer = new_customer(client, name=UNICODE_NAME)
    invoice = one_off(client, customer, [("Work", 1000)])
    bodies = fire(20, lambda _: client.get(f"/invoices/{invoice['id']}/pdf").content)
    assert len(set(bodies)) == 1
    assert sql(f"SELECT count(*) FROM invoice_pdfs WHERE invoice_id = '{invoice['id']}'") == [["1"]]


def renderers_of(worker):
    """The pids of the `billing-pdf` processes whose parent is `worker`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:  # any process may end while it is looked at
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == worker and fields[0] != "Z" and "billing-pdf" in os.readlink(f"/proc/{entry}/exe"):
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def maps(pid):
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_pdfs_are_drawn_by_a_renderer_process_that_is_replaced_when_it_dies(client, api_key):
    """pango and cairo are mapped only into billing-pdf, which a worker starts at its first
    render: a renderer killed between renders is replaced, and one goes with its worker."""
    customer = new_customer(client, name=UNICODE_NAME)
    first, second = (one_off(client, customer, [("Work", 1000)]) for _ in range(2))
    pool = Pool(workers=1, threads=1)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        worker = pool.status(api_key)["workers"][0]["pid"]
        assert renderers_of(worker) == []
        response = requests.get(pool.base + f"/invoices/{first['id']}/pdf", headers=headers, timeout=30)
        assert response.status_code == 200 and response.content.startswith(b"%PDF-"), response.text
        [renderer] = renderers_of(worker)
        # Its socket, stdout and stderr only: none of the worker's connections leak into it.
        assert sorted(os.listdir(f"/proc/{renderer}/fd")) == ["0", "1", "2"]
        assert "libpango" not in maps(worker) and "libcairo" not in maps(worker)
        assert "libpango" in maps(renderer) and "libcairo" in maps(renderer)
        assert UNICODE_NAME in pdf_text(response.content)[0]

        os.kill(renderer, signal.SIGKILL)
        response = requests.get(pool.base + f"/invoices/{second['id']}/pdf", headers=headers, timeout=30)
        assert response.status_code == 200 and response.content.startswith(b"%PDF-"), response.text
        [replacement] = renderers_of(worker)
        assert replacement != renderer and not alive(renderer)

        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(replacement) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(replacement)
    finally:
        pool.stop()


def test_a_renderer_that_cannot_start_is_a_503_and_the_rest_keeps_working(client, api_key):
    customer = new_customer(client)
    invoice = one_off(client, customer, [("Work", 1000)])
    pool = Pool(workers=1, threads=1, env={"BILLING_PDF_RENDERER": "/nonexistent/billing-pdf"})
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        response = requests.get(pool.base + f"/invoices/{invoice['id']}/pdf", headers=headers, timeout=30)
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "PDF rendering failed" in pool.read_log()
        assert requests.get(pool.base + path_of(invoice), timeout=10).status_code == 200
    finally:
        pool.stop()
    assert sql(f"SELECT count(*) FROM invoice_pdfs WHERE invoice_id = '{invoice['id']}'") == [["0"]]
