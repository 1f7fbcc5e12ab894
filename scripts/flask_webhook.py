"""A typical Python webhook bot, for comparison with tradeplane's webhook:
Flask checks the passphrase and answers, keeping nothing durable.

    gunicorn -w 2 -b 127.0.0.1:8099 --chdir scripts flask_webhook:app
    wrk -t2 -c64 -d10s --latency -s scripts/wrk-tradingview.lua \
        http://127.0.0.1:8099/webhooks/tradingview -- bench
"""
import hmac

from flask import Flask, jsonify, request

app = Flask(__name__)
PASSPHRASE = "bench"


@app.post("/webhooks/tradingview")
def tradingview():
    alert = request.get_json(force=True, silent=True)
    if not isinstance(alert, dict):
        return jsonify(error="body is not a JSON object"), 400
    if not hmac.compare_digest(str(alert.get("passphrase", "")), PASSPHRASE):
        return jsonify(error="bad passphrase"), 401
    for field in ("ticker", "action"):
        if not alert.get(field):
            return jsonify(error=f"missing {field}"), 400
    return jsonify(outcome="accepted", ticker=alert["ticker"], action=alert["action"])
