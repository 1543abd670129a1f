"""What people look at, opened the way they would: headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium) on the dashboard, a hosted invoice page and the Swagger
UI. Screenshots are kept under .data/screenshots/ as artefacts to look at."""

import os
import re
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import BASE_URL, REPO_ROOT, new_customer, new_plan, subscribe, unique

SCREENSHOTS = os.path.join(REPO_ROOT, ".data", "screenshots")
HOSTILE_NAME = '<img src=x onerror="document.title=1">Ågot & Søn 王'


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1900", "--lang=en-US"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    os.makedirs(SCREENSHOTS, exist_ok=True)
    yield driver
    driver.quit()


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def digits(text):
    return re.sub(r"\D", "", text).lstrip("0") or "0"


def test_the_dashboard_draws_the_reports_the_api_answers(browser, client, api_key):
    currency = "AUD"
    customer = new_customer(client, name="Dashboard Customer")
    assert subscribe(client, customer, new_plan(client, currency=currency, amount_cents=123456)).status_code == 201
    debtor_name = f"{HOSTILE_NAME} {unique('d')}"
    debtor = new_customer(client, name=debtor_name)
    draft = client.post("/invoices", {"customer_id": debtor["id"], "currency": currency, "days_until_due": 0}).json()
    client.post("/invoice-items", {"customer_id": debtor["id"], "description": "Old debt", "amount_cents": 98765,
                                   "invoice_id": draft["id"]})
    overdue_invoice = client.post(f"/invoices/{draft['id']}/finalize").json()
    time.sleep(1.1)  # due at its finalization, to the second: overdue from the next one on

    browser.get(BASE_URL + "/dashboard/")
    key_input = WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "key"))
    assert browser.find_element(By.ID, "board").get_attribute("hidden") is not None
    key_input.send_keys(api_key)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "currency").get_attribute("value"))
    Select(browser.find_element(By.ID, "currency")).select_by_value(currency)
    charts = ["chart-mrr", "chart-revenue", "chart-subscriptions"]
    WebDriverWait(browser, 20).until(
        lambda d: all(d.find_element(By.ID, c).get_attribute("data-drawn") == "true" for c in charts))
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "tile-mrr").get_attribute("data-currency") == currency)

    # The figures shown are the API's, digit for digit.
    mrr = next(x for x in client.get("/reports/mrr").json()["currencies"] if x["currency"] == currency)
    tile = browser.find_element(By.ID, "tile-mrr")
    assert int(tile.get_attribute("data-cents")) == mrr["mrr_cents"]
    assert digits(tile.text) == str(mrr["mrr_cents"]) and tile.text.startswith("A$")
    assert browser.find_element(By.ID, "tile-subscriptions").text == str(mrr["subscriptions"])
    owed = next(x for x in client.get("/reports/overdue").json()["currencies"] if x["currency"] == currency)
    assert digits(browser.find_element(By.ID, "tile-overdue").text) == str(owed["overdue_cents"])
    assert digits(browser.find_element(By.ID, "tile-open").text) == str(owed["open_cents"])
    # The MRR line is the movements report's month ends, the same twelve months.
    points = browser.execute_script("return Chart.getChart('chart-mrr').data.datasets[0].data")
    labels = browser.execute_script("return Chart.getChart('chart-mrr').data.labels")
    movements = client.get(f"/reports/mrr-movements?from={labels[0]}-01T00:00:00Z&to={labels[-1]}-01T00:00:00Z").json()
    ends = [next((x["mrr_end_cents"] for x in b["currencies"] if x["currency"] == currency), 0)
            for b in movements["buckets"]]
    assert len(points) == 12 and points[:11] == ends

    # The overdue table names the customer as text and links to the hosted page.
    rows = browser.find_elements(By.CSS_SELECTOR, "#overdue tbody tr")
    mine = [row for row in rows if debtor_name in row.text]
    assert mine, ([row.text for row in rows], console_errors(browser))
    link = mine[0].find_element(By.TAG_NAME, "a")
    assert link.get_attribute("href") == overdue_invoice["hosted_invoice_url"]
    assert link.text == overdue_invoice["number"]
    assert browser.title == "Billing dashboard"  # the name's markup never ran

    # On the host itself the pool's status shows; the key lives in this tab only.
    assert browser.find_element(By.ID, "pool").get_attribute("hidden") is None
    assert "Workers" in browser.find_element(By.ID, "pool-status").text
    assert browser.execute_script("return sessionStorage.getItem('billing.apiKey')") == api_key
    assert browser.execute_script("return localStorage.length") == 0
    assert browser.execute_script("return document.cookie") == ""
    browser.save_screenshot(os.path.join(SCREENSHOTS, "dashboard.png"))
    assert console_errors(browser) == []

    browser.find_element(By.ID, "forget").click()
    assert browser.execute_script("return sessionStorage.getItem('billing.apiKey')") is None


def test_a_hosted_invoice_page_opens_with_no_script_and_no_error(browser, client):
    customer = new_customer(client, name=HOSTILE_NAME)
    draft = client.post("/invoices", {"customer_id": customer["id"], "currency": "EUR"}).json()
    client.post("/invoice-items", {"customer_id": customer["id"], "description": "Design work", "amount_cents": 250000,
                                   "invoice_id": draft["id"]})
    invoice = client.post(f"/invoices/{draft['id']}/finalize").json()
    browser.get(invoice["hosted_invoice_url"])
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.TAG_NAME, "h1").text == "Invoice")
    assert HOSTILE_NAME in browser.find_element(By.CSS_SELECTOR, ".parties").text
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert "€2,500.00" in browser.page_source
    # The inline style is allowed by its hash: the page is laid out, not bare.
    assert browser.execute_script("return getComputedStyle(document.querySelector('.sheet')).maxWidth") == "820px"
    browser.save_screenshot(os.path.join(SCREENSHOTS, "hosted-invoice.png"))
    assert console_errors(browser) == []


def test_the_swagger_ui_opens(browser):
    browser.get(BASE_URL + "/docs/")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 50)
    assert "reports" in browser.page_source and "documents" in browser.page_source
    browser.save_screenshot(os.path.join(SCREENSHOTS, "swagger-ui.png"))
    assert console_errors(browser) == []
