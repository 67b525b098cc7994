import base64

from django.http import HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


# csrf_exempt: a sender's server has no CSRF cookie; the signature is what proves the origin.
@csrf_exempt
@require_POST
def hook(request):
    if not request.META.get("hmac.verified"):  # served without the middleware: refuse
        return HttpResponseForbidden()
    return JsonResponse({"client": request.META["hmac.tenant_id"],
                         "key_id": request.META["hmac.key_id"],
                         "body": base64.b64encode(request.body).decode()})


@csrf_exempt
@require_POST
def open_door(request):
    return JsonResponse({"body": base64.b64encode(request.body).decode()})
