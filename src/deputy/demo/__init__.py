"""The bundled demo: Acme CRM (a fake third party), the demo client and `deputy demo`."""
